fn main() {
    let _ = scope::provided!();
}
