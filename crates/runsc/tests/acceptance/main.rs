//! Acceptance tests of the foundation: each runs a program natively and under `runsc do` and
//! compares what they did. Tests print "SKIPPED: why" and return when gcc or Debian's static
//! busybox is missing.

mod busybox;
mod confinement;
mod faults;
mod hello;
mod host_effects;
mod lifecycle;
mod limits;
mod live;
mod overlay;
mod startup;
mod support;
mod volume;
