import boto3


def test_moto_server_answers_s3_over_http(aws: str) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="smoke")
    s3.put_object(Bucket="smoke", Key="a", Body=b"x")
    assert s3.get_object(Bucket="smoke", Key="a")["Body"].read() == b"x"
