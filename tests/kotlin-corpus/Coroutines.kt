package kcorpus

import kotlin.coroutines.Continuation
import kotlin.coroutines.CoroutineContext
import kotlin.coroutines.EmptyCoroutineContext
import kotlin.coroutines.createCoroutine
import kotlin.coroutines.resume
import kotlin.coroutines.startCoroutine
import kotlin.coroutines.suspendCoroutine

suspend fun step(x: Int): Int = suspendCoroutine { c -> c.resume(x + 1) }

suspend fun steps(x: Int): Int {
    val a = step(x)
    val b = if (a > 2) step(a) else a
    return step(b)
}

fun runSuspend(x: Int): Int {
    var out = 0
    val block: suspend () -> Int = { steps(x) }
    block.startCoroutine(object : Continuation<Int> {
        override val context: CoroutineContext = EmptyCoroutineContext
        override fun resumeWith(result: Result<Int>) {
            out = result.getOrThrow()
        }
    })
    val lazy = suspend { step(1) }.createCoroutine(object : Continuation<Int> {
        override val context: CoroutineContext get() = EmptyCoroutineContext
        override fun resumeWith(result: Result<Int>) {}
    })
    lazy.resume(Unit)
    return out
}
