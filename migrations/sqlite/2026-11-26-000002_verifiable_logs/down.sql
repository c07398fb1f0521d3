DROP TABLE instance_identity;
DROP TABLE halted_origins;
DROP TABLE checkpoints;
DROP TABLE tree_nodes;
