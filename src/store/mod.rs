//! SQL for the aggregates several stages touch, one module each, with typed rows: functions
//! take the caller's connection or transaction, so a stage's writes commit together. (The
//! inbox keeps its SQL in `inbox`, the directory in `directory`.)

pub mod instances;
