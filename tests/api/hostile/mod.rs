//! Hostile input: clients that send anything a socket can carry (`clients`), and property tests on
//! everything a client can type (`props`). The server never crashes, hangs or keeps what they leave behind.

mod clients;
mod props;
