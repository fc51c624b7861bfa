//! Hostile input and heavy users (issue 10): the edge defects, each shown by a test. One file per part;
//! add your `mod` line here.
mod answers;
mod cache;
mod catch_up;
mod hostile;
mod limits;
mod moderation;
mod names;
mod props;
mod redis;
mod stop;
