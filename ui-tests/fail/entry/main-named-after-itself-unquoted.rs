// The scope's name written as `main`, unquoted: that is the fn itself, not a name.
#[scope::main(name = main)]
async fn main() -> Result<(), scope::Interrupted> {
    Ok(())
}
