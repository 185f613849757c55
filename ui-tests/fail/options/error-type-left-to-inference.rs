use scope::{scope, Interrupted};

async fn sum() -> Result<u32, Interrupted> {
    // `_` names no type: the header's error type is written out, or left out.
    scope!(error = _, { Ok::<u32, Interrupted>(1) }).await
}

fn main() {}
