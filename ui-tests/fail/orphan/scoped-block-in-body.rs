use scope::{scoped, Interrupted};

#[scoped]
async fn handler() -> Result<(), Interrupted> {
    // A `#[scoped]` module or impl block declared in the body scopes (and lints) its async fns;
    // its other items are still the body's code, and linted as such.
    #[scoped]
    mod fire {
        pub fn and_forget() {
            tokio::spawn(async {});
        }
        pub async fn scoped_one() -> Result<(), scope::Interrupted> {
            Ok(())
        }
    }
    struct Worker;
    #[scoped]
    impl Worker {
        fn start(&self) {
            std::thread::spawn(|| ());
        }
        async fn run(&self) -> Result<(), Interrupted> {
            Ok(())
        }
    }
    fire::and_forget();
    fire::scoped_one().await?;
    Worker.start();
    Worker.run().await
}

fn main() {}
