#pragma once

#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

// The admitted Pod goes through inject's own code, which works on yaml-cpp nodes: JSON in, JSON
// out, every value keeping its JSON type. Pure.
namespace lastcall {

// Objects become mappings, arrays sequences, null a null node; every string is
// a scalar tagged "!" (a quoted string to yaml-cpp, whatever its text: "8080" stays a string),
// numbers and booleans plain scalars of their JSON text. Linear in the size of `json`.
YAML::Node JsonToYaml(const nlohmann::json& json);

// The inverse: a scalar tagged "!" or !!str is a string; a plain scalar is null (null, ~),
// a boolean (true, false), an integer or a float when its text is one in JSON's spelling, a string
// otherwise (what inject's StringNode leaves plain reads back as a string by its contract).
// Undefined nodes become null. YamlToJson(JsonToYaml(j)) == j for every JSON value j.
nlohmann::json YamlToJson(const YAML::Node& node);

}  // namespace lastcall
