use scope::Interrupted;

// Moving to `#[scope::main]` and keeping tokio's attribute: `#[scope::main]` builds the
// runtime itself, whichever order the two are in.
mod above {
    use super::Interrupted;

    #[tokio::main]
    #[scope::main]
    pub async fn main() -> Result<(), Interrupted> {
        Ok(())
    }
}

mod below {
    use super::Interrupted;

    #[scope::main(flavor = "current_thread")]
    #[tokio::main]
    pub async fn main() -> Result<(), Interrupted> {
        Ok(())
    }
}

fn main() {}
