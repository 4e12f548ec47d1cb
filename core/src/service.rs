//! The token endpoint flow (in progress).
