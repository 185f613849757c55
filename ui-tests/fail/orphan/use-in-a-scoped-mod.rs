use scope::{scoped, Interrupted};

// The `use`s and type aliases of a `#[scoped] mod` name what its fns call.
#[scoped]
mod handlers {
    use super::Interrupted;
    use tokio::runtime::Handle as Rt;
    use tokio::spawn as go;

    type Pool = tokio::runtime::Handle;

    pub async fn get() -> Result<(), Interrupted> {
        go(async {});
        Rt::current().spawn(async {});
        Ok(())
    }

    pub async fn on(p: &Pool) -> Result<(), Interrupted> {
        p.spawn(async {});
        Ok(())
    }

    mod inner {
        use tokio::spawn;

        pub async fn nested() -> Result<(), super::Interrupted> {
            spawn(async {});
            Ok(())
        }
    }
}

fn main() {}
