//! Integration tests of rampart-stats, built as one binary: reference cases from scipy and
//! statsmodels, published values for the sequential methods, and seeded error-rate simulations.

mod published;
mod reference;
mod simulation;
