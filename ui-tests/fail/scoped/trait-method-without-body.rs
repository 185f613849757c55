use scope::{scoped, Interrupted};

trait Service {
    #[scoped]
    async fn call(&self) -> Result<(), Interrupted>;
}

fn main() {}
