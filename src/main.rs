fn main() {
    println!("covtop {}", env!("CARGO_PKG_VERSION"));
}
