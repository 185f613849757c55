use scope::{scoped, Interrupted};

// `#[scope::unscoped]` is read by the `#[scoped]` block around it: with none, it says so.
#[scope::unscoped]
async fn helper() -> u32 {
    1
}

struct Service;

impl Service {
    #[scope::unscoped]
    async fn len(&self) -> usize {
        0
    }
}

#[scoped]
impl Service {
    #[scope::unscoped(now)]
    async fn other(&self) -> Result<(), Interrupted> {
        Ok(())
    }
}

// An orphan in an item left out of a block in a body is still an orphan of that body.
#[scoped]
async fn body() -> Result<(), Interrupted> {
    struct Local;
    #[scoped]
    impl Local {
        #[scope::unscoped]
        async fn fire(&self) {
            tokio::spawn(async {});
        }
    }
    Local.fire().await;
    Ok(())
}

fn main() {}
