use scope::{scoped, Interrupted};

// `#[scoped]` needs bodies: on a trait declaration it says where to put it.
#[async_trait::async_trait]
trait Service {
    #[scoped]
    async fn call(&self) -> Result<(), Interrupted>;
}

fn main() {}
