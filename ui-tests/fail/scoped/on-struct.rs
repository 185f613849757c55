use scope::{scoped};

#[scoped]
struct Handler;

fn main() {}
