//! `services::input::parse` on a CSV publishing body: never panics; accepted records are
//! canonical JSON objects within the caps; refusals are 400 or 422 (see `check_input`).
#![no_main]

use civicproof_api::services::input::BatchFormat;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    civicproof_fuzz::check_input(BatchFormat::Csv, data);
});
