DROP INDEX anchor_members_by_dataset;
