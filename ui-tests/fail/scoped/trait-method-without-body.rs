use scope::{scope, scoped, spawn, spawn_in_place, Interrupted};

trait Service {
    #[scoped]
    async fn call(&self) -> Result<(), Interrupted>;
}

fn main() {}
