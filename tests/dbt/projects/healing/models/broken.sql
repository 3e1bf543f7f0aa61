-- A SQL error: no retry can fix it.
select id from table_that_does_not_exist
