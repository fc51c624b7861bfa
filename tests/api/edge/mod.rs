//! Hostile input and heavy users (issue 10): the edge defects, each shown by a test. One file per part;
//! add your `mod` line here.
