use scope::{scoped, Interrupted};

// The scope's name written as the fn's own name, unquoted: it is taken for a value (here the fn
// itself, which rustc told of as a missing `From` for `Cow<'static, str>`).
#[scoped(name = fetch)]
async fn fetch() -> Result<u32, Interrupted> {
    Ok(1)
}

// A parameter, a constant or a static is a name (lower-case too): left alone.
const NAME: &str = "lookup";
#[allow(non_upper_case_globals)]
const lookup_name: &str = "lookup";
#[allow(non_upper_case_globals)]
static other_name: &str = "other";

#[scoped(name = lookup_name)]
async fn lookup_lower() -> Result<u32, Interrupted> {
    Ok(2)
}

#[scoped(name = other_name)]
async fn other() -> Result<u32, Interrupted> {
    Ok(2)
}

#[scoped(name = NAME)]
async fn lookup() -> Result<u32, Interrupted> {
    Ok(2)
}

#[scoped(name = label)]
async fn labelled(label: String) -> Result<u32, Interrupted> {
    Ok(3)
}

fn main() {}
