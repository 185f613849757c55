use scope::Interrupted;

// `main`'s body that ends in `Ok(..)` is told a value of the wrong type where it is written
// (it was told at the attribute, every label and help there).
#[scope::main]
async fn main() -> Result<(), Interrupted> {
    println!("working");
    Ok(5)
}
