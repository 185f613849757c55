use scope::{scoped, Interrupted};

// The scope's name written as the fn's own name, unquoted: it is taken for a value (here the fn
// itself, which rustc told of as a missing `From` for `Cow<'static, str>`).
#[scoped(name = fetch)]
async fn fetch() -> Result<u32, Interrupted> {
    Ok(1)
}

// A parameter or a constant is a name: left alone.
const NAME: &str = "lookup";

#[scoped(name = NAME)]
async fn lookup() -> Result<u32, Interrupted> {
    Ok(2)
}

#[scoped(name = label)]
async fn labelled(label: String) -> Result<u32, Interrupted> {
    Ok(3)
}

fn main() {}
