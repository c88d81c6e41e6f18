//! `kumo-bench`: a load generator for MQTT brokers, in the spirit of
//! emqtt-bench, written against our own codec (`kumo-mqtt`) over tokio so
//! that it has low overhead and exact timestamps.
//!
//! It connects clients (TCP, TLS, mutual TLS with one certificate per
//! connection), runs a scenario (`conn`, `pub`, `sub`, `p2p`, `fan-in`,
//! `fan-out`, `shadow`) and reports throughput, publish→deliver latency, connect
//! latency and rate, errors, lost and duplicated messages — and its own CPU
//! use, so a saturated generator is never mistaken for a slow broker.
//!
//! It never talks to anything but the broker it is pointed at, and never
//! asserts on timings: figures are for people and for `bench/compare`.

pub mod cli;
pub mod conn;
pub mod der;
pub mod hist;
pub mod report;
pub mod roles;
pub mod run;
pub mod shadow;
pub mod sys;
pub mod tls;
