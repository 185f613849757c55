use scope::{scoped, Interrupted};

// The rules of a `macro_rules!` in the body are read as code, with their metavariables
// standing for what they are given: a spawn a rule writes around its arguments is seen.
#[scoped]
async fn handler() -> Result<(), Interrupted> {
    macro_rules! fire {
        ($f:expr) => {
            tokio::runtime::Handle::current().spawn($f)
        };
    }
    macro_rules! fire_all {
        ($($f:expr),* $(,)?) => {
            vec![$($f),*].into_iter().map(tokio::spawn).for_each(drop)
        };
    }
    fire!(async {});
    fire_all!(async {});
    Ok(())
}

fn main() {}
