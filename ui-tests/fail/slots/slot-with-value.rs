scope::slot!(static REQUEST_ID: String = String::new());

fn main() {}
