use scope::{scoped, spawn, Interrupted};

// `#[scope::unscoped]` leaves one item out of the `#[scoped]` block around it: an async helper
// that is no handler (here it returns a plain value, which a scoped fn could not), or a whole
// inner `impl` or `mod`.
struct Service;

#[scoped]
impl Service {
    async fn handle(&self) -> Result<u32, Interrupted> {
        Ok(spawn!(async { Ok(1) }).await? + self.len().await)
    }

    #[scope::unscoped]
    async fn len(&self) -> u32 {
        2
    }
}

#[scoped]
mod handlers {
    use scope::{spawn, Interrupted};

    pub async fn one() -> Result<u32, Interrupted> {
        Ok(spawn!(async { Ok(1) }).await? + helper().await)
    }

    #[scope::unscoped]
    pub async fn helper() -> u32 {
        3
    }

    #[scope::unscoped]
    pub mod plain {
        pub async fn four() -> u32 {
            4
        }
    }

    pub struct Store;

    #[scope::unscoped]
    impl Store {
        pub async fn five(&self) -> u32 {
            5
        }
    }
}

// The same inside a scope's body: the item left out is linted as any item of the body is.
#[scoped]
async fn in_a_body() -> Result<u32, Interrupted> {
    struct Local;
    #[scoped]
    impl Local {
        async fn six(&self) -> Result<u32, Interrupted> {
            Ok(6)
        }
        #[scope::unscoped]
        async fn seven(&self) -> u32 {
            7
        }
    }
    Ok(Local.six().await? + Local.seven().await)
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(f)
}

fn main() {
    assert_eq!(block_on(Service.handle()).ok(), Some(3));
    assert_eq!(block_on(handlers::one()).ok(), Some(4));
    assert_eq!(block_on(handlers::plain::four()), 4);
    assert_eq!(block_on(handlers::Store.five()), 5);
    assert_eq!(block_on(in_a_body()).ok(), Some(13));
}
