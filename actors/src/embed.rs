//! The embedding service's pieces: `core` runs all-MiniLM-L6-v2 with candle (pure: no
//! actors, no HTTP).

pub mod core;
