scope::slot!(static mut REQUEST_ID: String);

fn main() {}
