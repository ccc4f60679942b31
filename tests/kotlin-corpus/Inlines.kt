package kcorpus

inline fun sumOfSquares(xs: List<Int>): Int {
    var s = 0
    for (x in xs) {
        s += square(x)
    }
    return s
}

inline fun square(x: Int): Int = x * x

inline fun <reified T> isA(o: Any): Boolean = o is T
