select * from (values (1, 10.0), (2, null), (3, 5.0)) as t(id, amount)
