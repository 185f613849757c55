use scope::{scoped, Interrupted};

struct Settings {
    port: u16,
}

// The scope's handle is bound at the top of the body, so it would hide a parameter of the
// same name: the body's `s.port` would meet the scope.
#[scoped(handle = s)]
async fn serve(s: Settings) -> Result<u16, Interrupted> {
    Ok(s.port)
}

fn main() {}
