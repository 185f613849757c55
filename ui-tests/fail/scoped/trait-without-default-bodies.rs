use scope::{scoped, Interrupted};

// On a trait, `#[scoped]` scopes the default bodies of its async methods: one with none is
// told where to put it.
#[scoped]
trait Handler {
    async fn handle(&self) -> Result<(), Interrupted>;
    fn name(&self) -> &str {
        "handler"
    }
}

fn main() {}
