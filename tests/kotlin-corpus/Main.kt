package kcorpus


enum class Color { RED, GREEN, BLUE }

sealed class Shape
class Circle(val r: Double) : Shape()
class Square(val side: Double) : Shape()
object Dot : Shape()

data class Point(val x: Int, val y: Int = 0, val label: String = "p")

interface Greeter {
    fun name(): String
    fun greet(punct: String = "!"): String = "hello " + name() + punct
}

class English : Greeter {
    override fun name() = "world"
}

class Holder {
    lateinit var value: String
    fun read(): Int = value.length
    fun isSet(): Boolean = this::value.isInitialized

    companion object {
        const val K = 3
        fun create(v: String): Holder {
            val h = Holder()
            h.value = v
            return h
        }
    }
}

object Registry {
    private val items = mutableListOf<String>()
    fun add(s: String) {
        items.add(s)
    }
    fun size() = items.size
}

fun whenInt(x: Int): String = when (x) {
    1 -> "one"
    2 -> "two"
    3, 4 -> "few"
    else -> "many"
}

fun whenString(s: String): Int = when (s) {
    "a" -> 1
    "b" -> 2
    "Aa" -> 3
    "BB" -> 4
    else -> 0
}

fun whenEnum(c: Color): Int = when (c) {
    Color.RED -> 1
    Color.GREEN -> 2
    Color.BLUE -> 3
}

fun whenSealed(s: Shape): Double = when (s) {
    is Circle -> 3.14 * s.r * s.r
    is Square -> s.side * s.side
    Dot -> 0.0
}

fun whenSealedIs(s: Shape): String = when (s) {
    is Circle -> "circle"
    is Square -> "square"
    is Dot -> "dot"
}

fun notNull(s: String?): Int = s!!.length

fun unsafeCast(o: Any?): String = o as String

fun safeCast(o: Any?): Int = (o as? String)?.length ?: -1

fun defaults(a: Int, b: Int = 2, c: String = "c", d: Long = 4L): String = "$a$b$c$d"

inline fun twice(f: () -> Int): Int {
    val a = f()
    val b = f()
    return a + b
}

fun usesInline(x: Int): Int = twice { if (x > 0) x else -x }

fun usesOtherFileInline(xs: List<Int>): Int = sumOfSquares(xs) + xs.map { it + 1 }.filter { it > 2 }.size

fun main(args: Array<String>) {
    println(whenInt(1) + whenInt(5))
    println(whenString("a") + whenString("BB") + whenString("zz"))
    println(whenEnum(Color.GREEN))
    println(whenSealed(Circle(1.0)) + whenSealed(Dot))
    println(whenSealedIs(Square(2.0)))
    println(notNull("abc"))
    println(unsafeCast("x") + safeCast(3))
    println(defaults(1) + defaults(1, 3, "z"))
    println(usesInline(-3) + usesOtherFileInline(listOf(1, 2, 3)))
    val p = Point(1)
    println(p.copy(y = 5).toString() + p.hashCode() + (p == Point(1)))
    println(English().greet())
    val h = Holder.create("v")
    println(h.read().toString() + h.isSet() + Holder().isSet())
    Registry.add("x")
    println(Registry.size())
    println(runSuspend(args.size))
    try {
        notNull(null)
    } catch (e: NullPointerException) {
        println("npe")
    }
}
