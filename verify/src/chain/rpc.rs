//! The JSON-RPC transport: one call, one result.

use serde_json::Value;

/// Why a JSON-RPC call gave no result.
///
/// The two kinds differ for the default finality policy: a node that answers the `finalized`
/// tag with a JSON-RPC error has no such tag (fall back to confirmations), while a transport
/// failure is just a failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// The node answered with a JSON-RPC error object.
    #[error("{method}: {message} (JSON-RPC error {code})")]
    Rpc {
        /// The method called.
        method: String,
        /// The error object's code.
        code: i64,
        /// The error object's message.
        message: String,
    },
    /// The node could not be reached or did not answer JSON-RPC.
    #[error("{method}: {message}")]
    Transport {
        /// The method called.
        method: String,
        /// What went wrong.
        message: String,
    },
}

/// A client's own EVM JSON-RPC endpoint.
///
/// Implementations send `{"jsonrpc":"2.0","id":…,"method":…,"params":…}` and return the
/// `result` member (which may be `null`, e.g. for an unknown receipt).
pub trait ChainRpc {
    /// How the endpoint is named in reports (e.g. its URL).
    fn endpoint(&self) -> String;
    /// Calls `method` with `params` (a JSON array).
    fn call(&self, method: &str, params: Value) -> Result<Value, RpcError>;
}

impl<T: ChainRpc + ?Sized> ChainRpc for &T {
    fn endpoint(&self) -> String {
        (**self).endpoint()
    }
    fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        (**self).call(method, params)
    }
}

/// Reads a hex quantity (`0x` and at least one hex digit, either case) that fits in a `u64`.
pub fn quantity(value: &Value) -> Option<u64> {
    let digits = value.as_str()?.strip_prefix("0x")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let significant = digits.trim_start_matches('0');
    if significant.len() > 16 {
        return None;
    }
    u64::from_str_radix(
        if significant.is_empty() {
            "0"
        } else {
            significant
        },
        16,
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities() {
        assert_eq!(quantity(&json!("0x0")), Some(0));
        assert_eq!(quantity(&json!("0x7A69")), Some(31337));
        assert_eq!(quantity(&json!("0x000000000000000000001")), Some(1));
        assert_eq!(quantity(&json!("0xffffffffffffffff")), Some(u64::MAX));
        for bad in [
            json!("0x"),
            json!("12"),
            json!(12),
            json!("0x1g"),
            json!("0x10000000000000000"),
        ] {
            assert_eq!(quantity(&bad), None, "{bad}");
        }
    }
}
