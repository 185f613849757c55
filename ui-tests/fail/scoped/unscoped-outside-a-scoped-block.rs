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

// On an item that no block scopes (a `const`, a `type`), it says there is nothing to leave out.
#[scoped]
impl Service {
    #[scope::unscoped]
    const LIMIT: usize = 3;

    async fn limit(&self) -> Result<usize, Interrupted> {
        Ok(Self::LIMIT)
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
