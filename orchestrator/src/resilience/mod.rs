//! Retry with decorrelated jitter, circuit breaking and a dedicated-runtime bulkhead.
