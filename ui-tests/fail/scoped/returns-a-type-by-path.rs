// A type written as a path is told as it was written, not with the token stream's spacing.
#[scope::scoped]
async fn load() -> std::collections::HashMap<String, ::std::vec::Vec<u8>> {
    std::collections::HashMap::new()
}

fn main() {}
