use scope::{scoped, Interrupted};

// An orphan in a `macro_rules!` rule of the body: the opt-out goes on the `macro_rules!` item
// (an attribute on a statement of the rule would stay in the rule, where rustc refuses it).
#[scoped]
async fn handler() -> Result<(), Interrupted> {
    macro_rules! fire {
        ($f:expr) => {
            tokio::spawn($f);
        };
    }
    fire!(async {});
    Ok(())
}

fn main() {}
