//! The test log (`civicproof-testlog`), the very one `verify/tests` builds its bundles from.

pub use civicproof_testlog::*;
