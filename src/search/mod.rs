//! Full-text search of history (issue 20): text is folded ([`fold`]) into one form for indexing and
//! searching, queries are parsed from what people type ([`Query`]), and the [`indexer`] follows every room's
//! sequence after its messages are committed and delivered, from a mark of its own, so that indexing never
//! touches the ack path and resumes where it stopped after a crash. The index and the search query live in
//! `storage/search.rs`; `GET /api/search` in `api/search.rs`.

mod fold;
pub mod indexer;
mod query;

pub use fold::{Folded, fold};
pub use query::{MAX_QUERY_CHARS, Query, QueryError};
