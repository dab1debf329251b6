#pragma once
// Helpers for integration tests that spawn real binaries (filled in with the core sequence).
