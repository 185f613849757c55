use scope::{scoped, Interrupted};

// The opt-out on an `impl` or a `mod` holds inside a `#[scoped]` module declared in a body, as
// it does directly in the body.
#[scoped]
async fn serve() -> Result<(), Interrupted> {
    #[scoped]
    mod handlers {
        pub struct Legacy;
        #[scope::allow_orphan]
        impl Legacy {
            pub fn start(&self) {
                let _ = std::thread::spawn(|| {});
            }
        }
        #[scope::allow_orphan]
        pub mod legacy {
            pub fn start() {
                let _ = std::thread::spawn(|| {});
            }
        }
    }
    handlers::Legacy.start();
    handlers::legacy::start();
    Ok(())
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(serve()).unwrap();
}
