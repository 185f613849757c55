// A block's option that reads a constant through `self::` (a path, not the receiver) is
// taken as written by every fn of the block, methods or not.
use std::time::Duration;

use scope::{scoped, Interrupted};

#[scoped(timeout = self::BUDGET)]
mod calls {
    use super::*;

    pub const BUDGET: Duration = Duration::from_secs(1);

    pub async fn one() -> Result<u8, Interrupted> {
        Ok(1)
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(calls::one()).unwrap(), 1);
}
