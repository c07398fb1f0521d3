//! Keeps libpq's TLS usable until the process is gone.
//!
//! libpq encrypts its connections with the system's OpenSSL (the local PostgreSQL here has
//! `ssl = on`, and libpq's default `sslmode=prefer` takes it). OpenSSL registers an `atexit`
//! handler, `OPENSSL_cleanup`, the first time it initializes. When `main` returns, that handler
//! frees OpenSSL's global state while other threads may still be closing pooled connections
//! (r2d2's workers, actix's worker threads dropping the last pool handle, a test's server).
//! Their `SSL_free` then touches freed memory: CI saw a passing test abort with "double free or
//! corruption" and a drained `civicproof serve` die of SIGSEGV on its way out.
//!
//! OpenSSL's own remedy is `OPENSSL_INIT_NO_ATEXIT`: if the first initialization carries it,
//! the handler is never registered and the operating system reclaims the memory at exit, as
//! it does for everything else. `openssl_sys::init()` initializes OpenSSL that way (rust-openssl
//! met the same crash), so [`disarm_openssl_atexit`] calls it, and the crate calls that before
//! every PostgreSQL connection it opens: the first initialization is always ours.

/// Initializes the OpenSSL that libpq uses without its exit-time cleanup (once per process;
/// later calls cost an atomic load).
pub fn disarm_openssl_atexit() {
    openssl_sys::init();
}
