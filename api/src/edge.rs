//! The HTTP edge, shared by REST routes and the GraphQL endpoint: request bodies and their
//! limit, rate limits and client addresses, and the headers every response carries.

pub mod body;
pub mod headers;
pub mod limits;
