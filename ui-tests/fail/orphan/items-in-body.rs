use scope::{scoped, Interrupted};

#[scoped]
async fn handler() -> Result<(), Interrupted> {
    fn helper() {
        tokio::spawn(async {});
    }
    struct Worker;
    impl Worker {
        fn start(&self) {
            std::thread::spawn(|| ());
        }
    }
    macro_rules! fire {
        () => {
            tokio::task::spawn(async {})
        };
    }
    helper();
    Worker.start();
    fire!();
    Ok(())
}

fn main() {}
